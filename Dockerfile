# syntax=docker/dockerfile:1
# Stub until the deployment work: it builds the CLI image; the webhook and sidecar targets come later.
# BASE_IMAGE is Red Hat's UBI 9 Node.js 24 minimal image, named through your registry or mirror.
ARG BASE_IMAGE=ubi9/nodejs-24-minimal

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY api api
COPY sidecar sidecar
COPY webhook webhook
COPY cli cli
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts

FROM ${BASE_IMAGE} AS runtime
WORKDIR /opt/kubevirt-vduse
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist dist
USER 1001
ENTRYPOINT ["node", "/opt/kubevirt-vduse/dist/cli/main.js"]
CMD ["--help"]
