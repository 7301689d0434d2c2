"""torchvision family: classifiers.py (vgg16, resnet50, vit_l_16 as feature extractors) and flair.py
(FLAIR's ResNet50 with its projection). The library is imported absolutely (`import torchvision`).
"""
