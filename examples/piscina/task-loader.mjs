// Piscina's filename for running task.ts under Node 20 without a build step. A worker thread
// cannot import a .ts module through `--import tsx` alone (the module format is decided before the
// loader hooks apply there), so this plain module registers tsx's loader in the worker and
// re-exports the task. With a compiled task.js, point piscina at that file instead.
import { register } from "tsx/esm/api";

register();
const task = await import("./task.ts");
export default task.default;
