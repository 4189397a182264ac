/** Yotpo customers of one store as the simulator keeps them: identity indexes and merge rules. */

export type Primitive = string | number | boolean;

export interface SimCustomer {
  external_id?: string;
  email?: string;
  phone_number?: string;
  custom_properties?: Record<string, Primitive>;
  [field: string]: unknown;
}

export type IdentityKey = 'external_id' | 'email' | 'phone_number';

export class StoreCustomers {
  private readonly byId = new Map<number, SimCustomer>();
  private readonly index: Record<IdentityKey, Map<string, number>> = {
    external_id: new Map(),
    email: new Map(),
    phone_number: new Map(),
  };
  private next = 1;

  get size(): number {
    return this.byId.size;
  }

  all(): SimCustomer[] {
    return [...this.byId.values()];
  }

  find(key: IdentityKey, value: string): SimCustomer | undefined {
    const id = this.index[key].get(key === 'email' ? value.toLowerCase() : value);
    return id === undefined ? undefined : this.byId.get(id);
  }

  /** Creates or updates by `key`; fields sent replace, custom properties merge. Resolves whether it created. */
  upsert(key: IdentityKey, customer: SimCustomer): boolean {
    const wanted = customer[key] as string;
    const lookup = key === 'email' ? wanted.toLowerCase() : wanted;
    let id = this.index[key].get(lookup);
    const created = id === undefined;
    if (id === undefined) {
      id = this.next++;
      this.byId.set(id, {});
    }
    const current = this.byId.get(id)!;
    const { custom_properties: props, ...fields } = customer;
    Object.assign(current, fields);
    if (props) current.custom_properties = { ...current.custom_properties, ...props };
    for (const k of ['external_id', 'email', 'phone_number'] as const) {
      const v = current[k];
      if (typeof v === 'string') this.index[k].set(k === 'email' ? v.toLowerCase() : v, id);
    }
    return created;
  }
}
