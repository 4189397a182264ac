import type {
  DestinationChange,
  DestinationOutcome,
  SendGate,
  SendOptions,
  SyncDestination,
} from '../port.js';
import { type BatchDestination, MAX_ITEMS_PER_REQUEST } from './destination.js';
import { type CatalogTarget, type FieldSpec, inferType } from './types.js';

/**
 * One sync's Batch catalog behind the pipeline's port. Custom attributes declared without a type get a
 * field of the type their first value shows, added to the catalog before it is sent.
 */
export class BatchCatalogDestination implements SyncDestination {
  readonly label: string;
  readonly maxItemsPerRequest = MAX_ITEMS_PER_REQUEST;
  private readonly fields: Map<string, FieldSpec>;
  private current: CatalogTarget;

  constructor(
    private readonly destination: BatchDestination,
    private readonly target: CatalogTarget,
  ) {
    this.label = `batch:${target.catalog}`;
    this.fields = new Map(target.fields.map((f) => [f.name, f]));
    this.current = target;
  }

  ensure(): Promise<void> {
    return this.destination.ensureCatalog(this.current);
  }

  /** 0 when a part-full request may leave now, else ms before asking again (see SyncDestination). */
  admit(items: number): Promise<number> {
    return this.destination.spare(this.target.project, items);
  }

  async send(
    changes: DestinationChange[],
    gate?: SendGate,
    options?: SendOptions,
  ): Promise<DestinationOutcome[]> {
    if (this.withInferredFields(changes)) await this.destination.ensureCatalog(this.current);
    return this.destination.send(
      this.current,
      changes.map(({ id, action, values }) => ({
        id,
        action,
        ...(values
          ? {
              values: Object.fromEntries(
                Object.entries(values).filter(([k, v]) => v !== null || this.fields.has(k)),
              ),
            }
          : {}),
      })),
      gate,
      options,
    );
  }

  /** Stops its indexing polls (tokens still pending are not reported). */
  close(): Promise<void> {
    return this.destination.close();
  }

  private withInferredFields(changes: DestinationChange[]): boolean {
    let added = false;
    for (const c of changes) {
      for (const [name, value] of Object.entries(c.values ?? {})) {
        if (this.fields.has(name) || value === null) continue;
        this.fields.set(name, { name, type: inferType(value) });
        added = true;
      }
    }
    if (added) this.current = { ...this.target, fields: [...this.fields.values()] };
    return added;
  }
}
