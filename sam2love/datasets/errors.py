"""The errors raised for a broken Ref-AVS tree or unusable media."""


class RefAVSDataError(ValueError):
    """A file of a Ref-AVS tree is missing, unreadable or inconsistent.

    Args:
        path (str): the file or folder at fault.
        reason (str): what is wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f'{self.path}: {reason}')

    def __reduce__(self):  # keeps the two fields through DataLoader workers
        return type(self), (self.path, self.reason)


class MediaError(RefAVSDataError):
    """A video, audio file or folder of frames given for inference cannot
    be used (unreadable, no video or audio track, no frames).

    Args:
        path (str): the input at fault.
        reason (str): what is wrong with it.
    """
