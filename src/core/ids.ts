import { v7 as uuidv7 } from 'uuid';

/** A new UUIDv7: time-ordered, so ids sort roughly by creation time. */
export function newEventId(): string {
  return uuidv7();
}

/** A short random instance id, used to name a consumer within its group. */
export function newInstanceId(): string {
  return uuidv7().slice(-12);
}
