import { v7 as uuidv7 } from 'uuid';

/**
 * New record ids are UUIDv7: opaque to clients, but ordered by creation time, so lists page by
 * id with a simple keyset cursor and new rows land at the right-hand end of their indexes.
 */
export const newId = (): string => uuidv7();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID.test(value);
