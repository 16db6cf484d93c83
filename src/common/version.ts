// Written by scripts/write-version.mjs from package.json; do not edit.

/** branchy's version, as in its package.json. */
export const BRANCHY_VERSION = '0.1.0';
