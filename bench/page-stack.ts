/**
 * The cost floor for single pages: a stack of free page addresses and nothing else.
 *
 * No coalescing, no state map, no validation (a double free or a foreign address silently
 * corrupts it); alloc() only throws when the stack is empty. Page 0 is never handed out, so that
 * address 0 can mean "none" as it does in mneme. Any allocator that hands out single pages and
 * takes them back does at least this much work, so it is the honest floor to compare against.
 */
export class PageStack {
  readonly pageSize: number;
  private readonly stack: Int32Array;
  private top: number;

  constructor(pageCount: number, pageSize: number) {
    if (!(pageCount >= 2) || pageCount * pageSize > 2 ** 31) {
      throw new RangeError(`PageStack: ${pageCount} pages of ${pageSize} bytes do not fit int32 addresses`);
    }
    this.pageSize = pageSize;
    this.stack = new Int32Array(pageCount - 1);
    // Highest address at the bottom, so the lowest pages come out first.
    let top = 0;
    for (let page = pageCount - 1; page >= 1; page--) this.stack[top++] = page * pageSize;
    this.top = top;
  }

  /** A free page's address. */
  alloc(): number {
    if (this.top === 0) throw new RangeError("PageStack: no free page");
    return this.stack[--this.top];
  }

  /** Puts a page back; `address` must be one alloc() returned and not yet freed. */
  free(address: number): void {
    this.stack[this.top++] = address;
  }

  /** Pages on the stack. */
  get available(): number {
    return this.top;
  }
}
