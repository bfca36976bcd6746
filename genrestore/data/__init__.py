"""Training data: the built-in face set, user folders, masks and augmentation."""
