// An injected clock for a whole agent process (tests only): loaded with
// NODE_OPTIONS="--require …/clock-shift.cjs" and HOKAN_TEST_CLOCK_SHIFT_MS=N, every `Date.now()` and
// `new Date()` of the process is N ms later than the system's — as if the agent ran N ms from now.
// File times on disk stay the system's (as they would be for a run that happens later).
'use strict';
const shift = Number(process.env.HOKAN_TEST_CLOCK_SHIFT_MS) || 0;
if (shift) {
  const RealDate = Date;
  class ShiftedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + shift);
      else super(...args);
    }
    static now() {
      return RealDate.now() + shift;
    }
  }
  globalThis.Date = ShiftedDate;
}
