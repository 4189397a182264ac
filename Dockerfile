# catalog-sync: build with the dev toolchain, run on the production dependencies only, as a non-root user.
# The image's entry point is the CLI: the default command starts one consumer instance; any other
# subcommand runs instead (`docker compose run catalog-sync inspect products -c /config/catalog-sync.yaml`).
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY schemas ./schemas
COPY devstack ./devstack
COPY src ./src
# tsc emits JS only: the build script copies the Lua scripts beside their loaders and the Avro schemas.
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# Metrics and health probes (config http.port, env HTTP_PORT).
EXPOSE 9464
ENTRYPOINT ["node", "dist/src/runtime/cli.js"]
CMD ["start", "--config", "/config/catalog-sync.yaml"]
