"""Pure array functions on canvas images: ink levels and checks (preprocess), segmentation into
digits and the one recipe that cuts a canvas into 28x28 model inputs (segment), and
augmentation.
"""
