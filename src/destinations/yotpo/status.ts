/** The label of every Yotpo sync's status events: one store per sync, never its id or token. */
export const YOTPO_LABEL = 'yotpo:contacts';
