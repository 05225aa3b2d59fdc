"""The fixed text the generated BPE tokenizer (:mod:`.tokenizer`) is
trained on.

Changing any of it changes every token id, and with them every text
feature of a random-init text encoder (and the tokenizer hash of feature
caches): keep it fixed.
"""

#: Words of the synthetic expressions (``sam2love.datasets.synthetic``),
#: copied here so that models do not import the data sets; without them in
#: the corpus "triangle" was cut into eight pieces.
SYNTHETIC_WORDS = (
    'The red, green, blue and yellow square, circle, triangle, diamond, '
    'star and cross; the sounding or silent object on the left, right, '
    'top or bottom with the higher-pitched, lower-pitched, highest-pitched '
    'or lowest-pitched sound; it starts second, keeps making sound at all '
    'times, makes a sound before or after the other stops.')
#: Expressions in the style of Ref-AVS, the corpus of the generated BPE.
#: Changing it changes every id: keep it fixed.
BPE_CORPUS = (
    'The object making the sound.',
    'The one making the most intense sound.',
    'The object making the loudest sound in the video.',
    'The instrument being played on the left.',
    'The guitar played by the man on the right.',
    'The piano being played by a woman.',
    'The person singing a song in the middle.',
    'The first object to make a sound.',
    'The last object to make a sound.',
    'The object sounding with the longest duration.',
    'The object sounding with the shortest duration.',
    'The instrument playing faster than the others.',
    'The one with the lowest volume.',
    'The boy holding a violin near the girl.',
    'The cello held by the person sitting on a chair.',
    'The drum at the front of the stage.',
    'The dog barking behind the car.',
    'The cat appearing through the entire video.',
    'The man wearing black clothes and glasses.',
    'The woman in a white dress with long hair.',
    'The baby speaking on the couch.',
    'The ukulele that keeps a continuous rhythm.',
    'The saxophone player standing under the red light.',
    'The object that makes no sound at any time.',
    'The entity emitting the sound after the flute.',
    'The biggest source of noise before the bell.',
    'The accordion, clarinet, harp, marimba, tabla and sitar.',
    'The yellow, green, blue, brown and pink objects.',
    'The two boats seated far over the table.',
    'The slowest, the slower, the faster and the fastest one.',
    'The one which did not make a sound; it was silent!',
    'What is making the sound? Who is singing? 0 1 2 3 4 5 6 7 8 9',
    'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ',
    # the embedded synthetic set's words, whole as a pretrained tokenizer
    # has them (merges need min_frequency 2: the sentence twice)
    *(2 * (SYNTHETIC_WORDS, )),
)
