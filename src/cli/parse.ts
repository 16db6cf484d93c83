import { InvalidArgumentError } from 'commander';

/**
 * Commander parser for a positive integer option. Integers past `Number.MAX_SAFE_INTEGER` (`1e300` is an integer to
 * `Number.isInteger`) are refused: they cannot count epochs or samples, nor seed a generator, exactly.
 */
export const positiveInt =
  (flag: string) =>
  (text: string): number => {
    const v = Number(text);
    if (!Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError(`${flag} must be a positive integer; got ${JSON.stringify(text)}.`);
    return v;
  };

/** Commander parser for a positive (or, with `allowZero`, non-negative) number. */
export const positiveNumber =
  (flag: string, allowZero = false) =>
  (text: string): number => {
    const v = Number(text);
    if (text.trim() === '' || !Number.isFinite(v) || v < 0 || (v === 0 && !allowZero)) {
      throw new InvalidArgumentError(`${flag} must be a ${allowZero ? 'non-negative' : 'positive'} number; got ${JSON.stringify(text)}.`);
    }
    return v;
  };

/** Commander parser for a number in [0, 1). */
export const share =
  (flag: string) =>
  (text: string): number => {
    const v = Number(text);
    if (text.trim() === '' || !(v >= 0 && v < 1)) throw new InvalidArgumentError(`${flag} must be a number in [0, 1); got ${JSON.stringify(text)}.`);
    return v;
  };

/** Commander parser for comma-separated numbers. */
export const numberList =
  (flag: string) =>
  (text: string): number[] => {
    const parts = text.split(',').map((s) => s.trim());
    const values = parts.map(Number);
    if (parts.some((p) => p === '') || values.some((v) => !Number.isFinite(v)))
      throw new InvalidArgumentError(`${flag} must be comma-separated numbers; got ${JSON.stringify(text)}.`);
    return values;
  };

/** Commander parser for a whole number ≥ 0. */
export const nonNegativeInt =
  (flag: string) =>
  (text: string): number => {
    const v = Number(text);
    if (text.trim() === '' || !Number.isSafeInteger(v) || v < 0)
      throw new InvalidArgumentError(`${flag} must be a whole number ≥ 0; got ${JSON.stringify(text)}.`);
    return v;
  };

/** Commander parser for comma-separated positive integers. */
export const positiveIntList =
  (flag: string) =>
  (text: string): number[] => {
    const parts = text.split(',').map((s) => s.trim());
    const values = parts.map(Number);
    if (parts.some((p) => p === '') || values.some((v) => !Number.isSafeInteger(v) || v < 1))
      throw new InvalidArgumentError(`${flag} must be comma-separated positive integers; got ${JSON.stringify(text)}.`);
    return values;
  };
