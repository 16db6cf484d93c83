/**
 * Every error branchy throws on purpose carries a stable `code`, so that the CLI can print it, the server can
 * map it to an HTTP status and tests can assert on it without matching prose. Each error class has its own
 * union of codes.
 */
export class BranchyError<Code extends string = string> extends Error {
  /** Stable machine-readable code, e.g. `SPEC_UNKNOWN_LAYER`. */
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The codes of {@link BranchySpecError}. */
export type SpecErrorCode =
  | 'ONNX_BAD_PIECE'
  | 'ONNX_NO_LAYERS'
  | 'ONNX_UNSUPPORTED_LAYER'
  | 'SPEC_EXITS'
  | 'SPEC_NO_LAYERS'
  | 'SPEC_SHAPE'
  | 'SPEC_TYPE'
  | 'SPEC_UNKNOWN_FIELD'
  | 'SPEC_UNKNOWN_LAYER'
  | 'SPEC_VALUE';

/** The codes of {@link BranchyDataError}. */
export type DataErrorCode =
  | 'DATA_BAD_MNIST_PACKAGE'
  | 'DATA_BAD_PNG'
  | 'DATA_BAD_SHAPE'
  | 'DATA_CIFAR_BAD_GZIP'
  | 'DATA_CIFAR_BAD_LABEL'
  | 'DATA_CIFAR_TRUNCATED'
  | 'DATA_IDX_BAD_DTYPE'
  | 'DATA_IDX_BAD_GZIP'
  | 'DATA_IDX_BAD_LABEL'
  | 'DATA_IDX_BAD_MAGIC'
  | 'DATA_IDX_BAD_SHAPE'
  | 'DATA_IDX_COUNT_MISMATCH'
  | 'DATA_IDX_TRAILING_BYTES'
  | 'DATA_IDX_TRUNCATED'
  | 'DATA_INFLATE_TOO_LARGE'
  | 'DATA_INPUT_SHAPE'
  | 'DATA_MODEL_MISMATCH'
  | 'DATA_NOT_FOUND'
  | 'DATA_SPLIT_TOO_LARGE'
  | 'DATA_UNKNOWN_FORMAT'
  | 'IMPORT_BAD_CLASSES';

/** The codes of {@link BranchyIoError}. */
export type IoErrorCode =
  | 'FRAME_BAD_DTYPE'
  | 'FRAME_BAD_HEADER_JSON'
  | 'FRAME_BAD_HEADER_LENGTH'
  | 'FRAME_BAD_OFFSETS'
  | 'FRAME_BAD_SHAPE'
  | 'FRAME_TOO_SHORT'
  | 'IMPORT_CLASS_COUNT'
  | 'IMPORT_EXIT_NOT_PROBS'
  | 'IMPORT_FIXED_BATCH'
  | 'IMPORT_HAS_WEIGHTS'
  | 'IMPORT_MISSING_FILE'
  | 'IMPORT_SHAPE_CHAIN'
  | 'MODEL_BAD_CALIBRATION'
  | 'MODEL_BAD_JSON'
  | 'MODEL_BAD_MANIFEST'
  | 'MODEL_BAD_WEIGHT'
  | 'MODEL_CHECKSUM'
  | 'MODEL_MISSING_FILE'
  | 'MODEL_MISSING_WEIGHT'
  | 'MODEL_NOT_A_SUCCESSOR'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_READ_FAILED'
  | 'MODEL_UNKNOWN_WEIGHT'
  | 'MODEL_WEIGHT_SHAPE'
  | 'MODEL_WRITE_FAILED'
  | 'ONNX_BAD_MODEL'
  | 'ONNX_BAD_OUTPUT'
  | 'ONNX_PIECE_COUNT'
  | 'TRAIN_BAD_CHECKPOINT';

/** The codes of {@link BranchyArgumentError}. */
export type ArgumentErrorCode =
  | 'CALIBRATE_BAD_CONSTRAINT'
  | 'CALIBRATE_BAD_COSTS'
  | 'CALIBRATE_BAD_LABELS'
  | 'CALIBRATE_BAD_TABLE'
  | 'CALIBRATE_EMPTY_FRONT'
  | 'CALIBRATE_IMPOSSIBLE'
  | 'CLI_BAD_OPTION'
  | 'CLI_CONFLICTING_OPTIONS'
  | 'CLI_UNKNOWN_DATA'
  | 'DATA_BAD_BATCH_SIZE'
  | 'DATA_BAD_STATS'
  | 'DATA_IDX_BAD_DIMS'
  | 'DATA_IDX_BAD_DTYPE'
  | 'DATA_IDX_BAD_VALUE'
  | 'DATA_INDEX_OUT_OF_RANGE'
  | 'DATA_INPUT_SHAPE'
  | 'DATA_SPLIT_BAD_SIZE'
  | 'DATA_UNKNOWN_SOURCE'
  | 'DATA_UNSUPPORTED_CHANNELS'
  | 'ENGINE_BACKEND_FAILED'
  | 'ENGINE_BAD_INDEX'
  | 'ENGINE_BAD_SHAPE'
  | 'ENGINE_NEEDS_LAYERS'
  | 'ENGINE_NO_FEATURES'
  | 'ENGINE_RUN_FAILED'
  | 'ENGINE_THREADS_NEED_ORT'
  | 'ENGINE_UNKNOWN'
  | 'ENGINE_UNKNOWN_BACKEND'
  | 'EXITS_BAD_POSITION'
  | 'EXITS_CUT_NEEDS_LAYERS'
  | 'EXITS_NO_POSITIONS'
  | 'EXIT_BAD_CLASSES'
  | 'EXIT_BAD_CRITERION'
  | 'EXIT_BAD_EARLY_EXITS'
  | 'EXIT_BAD_SLICE'
  | 'EXIT_DUPLICATE_CRITERION'
  | 'EXIT_THRESHOLDS_REQUIRED'
  | 'EXIT_THRESHOLD_COUNT'
  | 'EXIT_THRESHOLD_VALUE'
  | 'EXIT_UNKNOWN_CRITERION'
  | 'FRAME_BAD_DTYPE'
  | 'FRAME_BAD_METADATA'
  | 'FRAME_BAD_NAME'
  | 'FRAME_BAD_SHAPE'
  | 'FRAME_DTYPE_MISMATCH'
  | 'FRAME_NOT_BYTES'
  | 'HEAD_BAD_SPEC'
  | 'HEAD_UNKNOWN'
  | 'IMPORT_BAD_CLASSES'
  | 'IMPORT_BAD_INPUT_SHAPE'
  | 'INFER_BAD_BATCH'
  | 'KERNEL_UNSUPPORTED_ATTR'
  | 'MODEL_UNKNOWN_WEIGHT'
  | 'REPORT_NOT_CALIBRATED'
  | 'SERVE_BAD_FRONT'
  | 'SERVE_BAD_SLO'
  | 'SERVE_BAD_TOKEN_FILE'
  | 'SERVE_UNSAFE_HOST'
  | 'TRAIN_BAD_FRONT'
  | 'TRAIN_BAD_OPTION'
  | 'TRAIN_FRONT_EXISTS'
  | 'TRAIN_UNKNOWN_CLASSES'
  | 'TRAIN_EXIT_WEIGHTS'
  | 'TRAIN_INIT_MISMATCH'
  | 'TRAIN_NOTHING_TO_RESUME'
  | 'ZOO_BAD_OPTION'
  | 'ZOO_UNKNOWN_MODEL';

/** Every code the library's own error classes carry. */
export type BranchyErrorCode = SpecErrorCode | DataErrorCode | IoErrorCode | ArgumentErrorCode;

/** A network description (`branchy.json` spec or a zoo entry) is invalid. */
export class BranchySpecError extends BranchyError<SpecErrorCode> {}

/** A data set or input file is missing, malformed or does not fit the network. */
export class BranchyDataError extends BranchyError<DataErrorCode> {}

/** A model directory, weight file or frame is missing or corrupt. */
export class BranchyIoError extends BranchyError<IoErrorCode> {}

/** A caller passed an argument the library cannot use (bad thresholds, unknown criterion, …). */
export class BranchyArgumentError extends BranchyError<ArgumentErrorCode> {}
