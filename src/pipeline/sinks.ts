import type { DeadLetterWriter } from '../ingest/dead-letter.js';
import type { StatusPublisher } from '../status/publisher.js';

/** What the pipeline needs of the status publisher and the dead-letter writer. */
export type StatusSink = Pick<StatusPublisher, 'emit'>;
export type DeadLetterSink = Pick<DeadLetterWriter, 'send'>;
