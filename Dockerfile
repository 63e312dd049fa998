# switchyard in a container: node src/main.ts is PID 1 and receives SIGTERM itself
# (exec form, no npm, no shell), runs as the unprivileged `node` user, and carries only
# the production dependencies. README.md, "Deploying", says how to run it.
#
#   docker build -t switchyard .
#   docker run --rm -p 8080:8080 switchyard --backend http://10.0.0.7:8000
#
# The Node.js release package.json pins (devDependency `node`); the official image
# provides it, since `npm ci --omit=dev` leaves that devDependency out.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; none of them needs an install script.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
COPY demo ./demo
# The image's unprivileged user (uid 1000); the ports are above 1024, so it needs no capability.
USER node
EXPOSE 8080 9901
# Healthy while /healthz on the admin listener answers 200 (reads SWITCHYARD_ADMIN and
# SWITCHYARD_ADMIN_TOKEN when the admin listener moved or has a token).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["node", "src/ctl/ctl.ts", "healthz"]
# What switchyard drains on (in-flight requests get --shutdown-timeout); Docker's default
# stop timeout is 10 s: give `docker stop -t` more than --shutdown-timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "src/main.ts"]
# A container must listen on all addresses. The admin listener stays on loopback unless
# --admin-host 0.0.0.0 is given with --admin-token (or SWITCHYARD_ADMIN_TOKEN).
CMD ["--host", "0.0.0.0", "--port", "8080", "--admin-port", "9901", "--shutdown-timeout", "8s"]
