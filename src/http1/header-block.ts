/**
 * @module The header lines of one message head (or of the trailers after a chunked body)
 * as llhttp hands them over: in pieces, a field or a value split wherever a chunk of
 * input ended. Also the size limit of the head, which the request target or the reason
 * phrase count toward as well.
 */
export class HeaderBlock {
  readonly #maxBytes: number;
  /** name, value, name, value, ... (latin1, as sent). */
  #raw: string[] = [];
  #bytes = 0;
  /** The next piece continues the last field (true) or value (false). */
  #inField = false;
  #inValue = false;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Starts over (a new head, or the trailers after one): the list handed out before is
   * left as it was to whoever holds it. */
  reset(): void {
    this.#raw = [];
    this.#bytes = 0;
    this.#inField = false;
    this.#inValue = false;
  }

  /** Counts bytes of the head; false once it is over the limit. */
  count(bytes: number): boolean {
    this.#bytes += bytes;
    return this.#bytes <= this.#maxBytes;
  }

  field(bytes: Buffer): boolean {
    this.#append(bytes, this.#inField);
    this.#inField = true;
    this.#inValue = false;
    return this.count(bytes.length);
  }

  value(bytes: Buffer): boolean {
    this.#append(bytes, this.#inValue);
    this.#inValue = true;
    this.#inField = false;
    return this.count(bytes.length);
  }

  /** The lines, whole: a field with no value (`Name:` then the end of the line) gets an empty one. */
  lines(): string[] {
    if (this.#raw.length % 2 === 1) this.#raw.push('');
    return this.#raw;
  }

  #append(bytes: Buffer, continues: boolean): void {
    const raw = this.#raw;
    if (continues) raw[raw.length - 1] += bytes.toString('latin1');
    else raw.push(bytes.toString('latin1'));
  }
}
