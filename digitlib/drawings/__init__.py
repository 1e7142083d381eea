"""Where drawings come from: the data sets (MNIST, pendigits, UNIPEN, Quick, Draw!), rendering them
on canvases in the ways people draw (styles), synthetic letters and signs, and the pen's strokes
(checking, resampling, encoding, augmenting, tracing).
"""
