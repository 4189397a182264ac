# catalog-sync: build with the dev toolchain, run on the production dependencies only, as a non-root user.
# The image's entry point is the CLI: the default command starts one consumer instance; any other
# subcommand runs instead (`docker compose run catalog-sync inspect products -c /config/catalog-sync.yaml`).
# The product image holds dist/src only: the simulator, the demo and the dev stack are not shipped.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# postinstall applies patches/ (patch-package): kafkajs's producer fix, docs/operations.md "Kafka client".
COPY patches ./patches
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY schemas ./schemas
COPY src ./src
# tsc emits JS only: the build script copies the Lua scripts beside their loaders and the Avro schemas.
RUN npm run build && npm prune --omit=dev

# The Batch and Yotpo API simulator, for demos and staging (`docker compose up simulator`). A dev tool
# run from its TypeScript source; not part of the product image below.
FROM node:20-slim AS simulator
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY tools/simulator ./tools/simulator
USER node
ENTRYPOINT ["npx", "tsx", "tools/simulator/main.ts"]

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
