/**
 * @module Every route of the admin listener, in the order they are tried.
 */
import type { AdminRoute } from './admin-context.ts';
import { statusRoutes } from './status-routes.ts';
import { backendsApi } from './backends-api.ts';
import { dashboardRoutes } from './dashboard-routes.ts';
import { reloadRoute } from './reload-route.ts';
import { takeoverRoute } from './takeover-route.ts';

export const ADMIN_ROUTES: readonly AdminRoute[] = [
  statusRoutes,
  backendsApi,
  reloadRoute,
  dashboardRoutes,
  takeoverRoute,
];
