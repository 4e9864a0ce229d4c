import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * The HTTP API's errors. Every error response has the body
 * `{"error": {"code": "...", "message": "...", "field": "sku"}}` (`field` only when one field
 * is to blame), so a client can show the message next to the input it concerns.
 */

/** A request the API refuses, with the status and (when there is one) the field to blame. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** 400 for a field whose value the API does not accept. */
export function invalidField(field: string, message: string, code = 'INVALID_FIELD'): ApiError {
  return new ApiError(400, code, `${field}: ${message}`, field);
}

/** Writes `error` as the JSON error body with its status. */
export function errorResponse(c: Context, error: ApiError): Response {
  return c.json({ error: { code: error.code, message: error.message, ...(error.field === undefined ? {} : { field: error.field }) } }, error.status);
}

/**
 * The request body as a JSON object; 400 naming `body` when it is not valid JSON or not an
 * object. (The content type is not required: a JSON body sent as text is read as JSON.)
 */
export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (cause) {
    throw new ApiError(400, 'INVALID_JSON', `body: not valid JSON (${(cause as Error).message})`, 'body');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'INVALID_BODY', 'body: expected a JSON object', 'body');
  }
  return body as Record<string, unknown>;
}
