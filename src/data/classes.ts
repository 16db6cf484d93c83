/** Class names of the digit data sets (MNIST and friends): the label is the digit itself. */
export const DIGIT_CLASSES: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

/**
 * Class names of Fashion-MNIST, in label order (label 0 is 'T-shirt/top'), as published by Zalando Research.
 * Pass to the IDX loaders, whose files carry only label numbers.
 */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

/** Class names of CIFAR-10 in label order (label 0 is 'airplane'), as listed in the distribution's `batches.meta.txt`. */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
