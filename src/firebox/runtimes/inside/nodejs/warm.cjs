// Loaded once by a pre-started runtime (index.mjs, warmUp) before its function is assigned,
// so that the first CommonJS file a function loads is not the first Node compiles its loader for.
module.exports = {};
