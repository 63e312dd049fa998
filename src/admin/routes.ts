/**
 * @module Every route of the admin listener, in the order they are tried.
 */
import type { AdminRoute } from './admin-context.ts';

export const ADMIN_ROUTES: readonly AdminRoute[] = [];
