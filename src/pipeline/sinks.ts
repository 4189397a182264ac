import type { DeadLetterWriter } from '../ingest/dead-letter.js';
import type { StatusPublisher } from '../status/publisher.js';

/**
 * What the pipeline needs of the status publisher and the dead-letter writer. With `flush`, the
 * pipeline keeps a run's events in order on the status topic across instances (see SyncPipeline).
 */
export type StatusSink = Pick<StatusPublisher, 'emit'> & Partial<Pick<StatusPublisher, 'flush'>>;
export type DeadLetterSink = Pick<DeadLetterWriter, 'send'>;
