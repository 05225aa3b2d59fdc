"""The error raised for a broken Ref-AVS tree."""


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
