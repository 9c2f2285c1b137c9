// One routing table of the model: routes indexed by prefix length, then network, then metric, so a
// longest-prefix lookup costs at most 33 (IPv4) or 129 (IPv6) map probes whatever the table's size.
import type { Route } from "../../kinds/types.js";
import { maskOf, type Address, type Prefix } from "../../util/prefix.js";

export interface TableEntry {
  readonly route: Route;
  readonly prefix: Prefix;
  /** Added by the kernel for an address (connected, local, broadcast): never part of a KernelState. */
  readonly derived: boolean;
}

export class RouteTable {
  private readonly byLen = new Map<number, Map<bigint, TableEntry[]>>();
  /** Prefix lengths present, longest first. */
  private lens: number[] = [];
  size = 0;

  /** Entries for exactly this prefix, lowest metric first. */
  at(p: Prefix): readonly TableEntry[] {
    return this.byLen.get(p.len)?.get(p.net) ?? [];
  }

  find(p: Prefix, metric: number, derived: boolean): TableEntry | undefined {
    return this.at(p).find((e) => e.route.metric === metric && e.derived === derived);
  }

  insert(e: TableEntry): void {
    let nets = this.byLen.get(e.prefix.len);
    if (!nets) {
      nets = new Map();
      this.byLen.set(e.prefix.len, nets);
      this.lens = [...this.byLen.keys()].sort((a, b) => b - a);
    }
    const list = nets.get(e.prefix.net);
    if (!list) nets.set(e.prefix.net, [e]);
    else {
      // Lowest metric first; among equal metrics the older entry stays first, as in the kernel.
      let i = list.length;
      while (i > 0 && list[i - 1]!.route.metric > e.route.metric) i--;
      list.splice(i, 0, e);
    }
    this.size++;
  }

  remove(e: TableEntry): void {
    const nets = this.byLen.get(e.prefix.len);
    const list = nets?.get(e.prefix.net);
    if (!nets || !list) return;
    const i = list.indexOf(e);
    if (i < 0) return;
    list.splice(i, 1);
    this.size--;
    if (list.length === 0) nets.delete(e.prefix.net);
    if (nets.size === 0) {
      this.byLen.delete(e.prefix.len);
      this.lens = [...this.byLen.keys()].sort((a, b) => b - a);
    }
  }

  /** Every entry whose prefix holds `a`, longest prefix first, lowest metric first within a prefix. */
  *matches(a: Address): Generator<TableEntry> {
    for (const len of this.lens) {
      const list = this.byLen.get(len)?.get(a.value & maskOf(a.family, len));
      if (list) yield* list;
    }
  }

  *entries(): Generator<TableEntry> {
    for (const nets of this.byLen.values()) for (const list of nets.values()) yield* list;
  }
}
