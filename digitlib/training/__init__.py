"""Training the shipped models: the image models' data assembly and loops (train), the stroke model
(train_strokes), training on several workers (distributed), and choosing the decision's and the
fusion's settings (tune, tune_fusion).
"""
