# Berth as a container image. Two stages: build the TypeScript with the dev dependencies, then run `dist/`
# with production dependencies only, as the unprivileged `node` user. The JSON Schemas are read at runtime
# from ../schemas relative to dist/, so they sit next to it.
#
#   docker build -t berth .
#   docker run -p 5000:5000 -v berth-data:/data -e BERTH_ADMIN_USER=root -e BERTH_ADMIN_PASSWORD=... berth
#                                                                             # filesystem store in /data
#
# HOST=0.0.0.0 is set here because a container must bind every interface to be reached through its published
# port (Berth's own default is 127.0.0.1). With no users Berth refuses to start on 0.0.0.0: configure a user,
# or set BERTH_ALLOW_OPEN=true when only trusted clients reach the port.
#   docker compose up                                                         # Berth on MinIO (docker-compose.yml)
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY web ./web
COPY scripts/build-ui.mjs ./scripts/build-ui.mjs
COPY schemas ./schemas
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=5000 \
    BERTH_DATA_DIR=/data \
    UV_THREADPOOL_SIZE=16
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/schemas ./schemas
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 5000
# Ready = the store answers (GET /readyz); liveness alone is GET /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||5000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# A 2 MiB semi-space keeps V8's young generation from staying at 16 MiB after a burst (src/workers.ts).
CMD ["node", "--max-semi-space-size=2", "dist/server.js"]
