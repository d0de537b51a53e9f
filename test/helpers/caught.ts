/** What `fn` throws, or undefined when it returns: for tests that inspect an error's fields. */
export function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}
