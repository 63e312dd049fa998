/**
 * @module POST /reload: reloads the config file as SIGHUP does (reload/config-reloader.ts).
 * 200 with what changed (keys in effect now, keys ignored until a restart, backends added,
 * kept, reweighted and removing); 400 with one line per problem of an invalid file, which
 * changed nothing; 409 when the balancer runs without --config.
 */
import type { AdminRoute } from './admin-context.ts';
import { refuseMethod, sendJson, sendRefusal, sendText } from './respond.ts';

export const reloadRoute: AdminRoute = async (req, res, url, context) => {
  if (url.pathname !== '/reload') return false;
  if (req.method !== 'POST') {
    refuseMethod(res, req.method, url.pathname, ['POST']);
    return true;
  }
  if (!context.reload) {
    sendRefusal(res, 409, 'there is no config file to reload: this balancer was started without --config');
    return true;
  }
  const from = req.socket.remoteAddress ?? 'unknown';
  context.logEvent(`admin: reload the config file (from ${from})`);
  const result = await context.reload(`POST /reload from ${from}`);
  if (!result.ok) {
    sendText(res, 400, `400 Bad Request: the config file was not reloaded, nothing changed:\n${result.problems.join('\n')}\n`);
    return true;
  }
  const { changed, ignored, backends, warnings } = result;
  sendJson(res, 200, { reloaded: true, changed, ignored, backends, warnings });
  return true;
};
