import type { CacheEntry } from 'datasync/cache';
import type { ServiceDirectory } from '../../host/module.js';
import { ApiError } from '../../http/errors.js';

/**
 * A product view as Search serves it (GET /search/products/:id) and the Gateway passes on and
 * caches: Search's API answer, so the Gateway uses Search's own type of it. The cache version is
 * its `viewVersion` (it increases with every change Search applies to the product).
 */
export type { ProductView } from '../search/query.js';
import type { ProductView } from '../search/query.js';

/**
 * Reads the product's view from Search's API: undefined when Search has no such product (404);
 * a 503 ApiError when Search cannot be reached or fails.
 */
export async function fetchProductView(services: ServiceDirectory, id: string): Promise<CacheEntry<ProductView> | undefined> {
  let response: Response;
  try {
    response = await services.fetch('search', `/search/products/${id}`);
  } catch (error) {
    throw new ApiError(503, 'SEARCH_UNAVAILABLE', `the Search service did not answer: ${(error as Error).message}`);
  }
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (response.status !== 200) {
    throw new ApiError(503, 'SEARCH_UNAVAILABLE', `the Search service answered ${response.status} for product ${id}: ${(await response.text()).slice(0, 300)}`);
  }
  const view = (await response.json()) as ProductView;
  const { sku, name, description, price, stock, version, viewVersion } = view;
  return { value: { id, sku, name, description, price, stock, version, viewVersion }, version: viewVersion };
}
