# syntax=docker/dockerfile:1
# kubevirt-vduse images. Three targets from one build:
#   docker build --target webhook -t REGISTRY/kubevirt-vduse/webhook:0.1.0 .
#   docker build --target sidecar-cloudinit -t REGISTRY/kubevirt-vduse/sidecar-cloudinit:0.1.0 .
#   docker build --target sidecar -t REGISTRY/kubevirt-vduse/sidecar:0.1.0 .
# BASE_IMAGE is Red Hat's UBI 9 Node.js 24 minimal image (the OpenShift convention), named
# through your registry or mirror: --build-arg BASE_IMAGE=REGISTRY/ubi9/nodejs-24-minimal.
# test/integration/image-layout.test.ts runs this file's RUN commands to build the same layout.
ARG BASE_IMAGE=ubi9/nodejs-24-minimal

FROM ${BASE_IMAGE} AS build
USER 0
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts stay off: the node@24 devDependency would fetch a second Node the image has.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY api api
COPY sidecar sidecar
COPY webhook webhook
COPY cluster cluster
COPY cli cli
COPY scripts scripts
RUN node scripts/build.ts --no-source-maps

FROM ${BASE_IMAGE} AS runtime
USER 0
WORKDIR /opt/kubevirt-vduse
# The bundle carries every dependency it loads, so the image has no node_modules at all (the
# production dependencies alone were about 110 MiB, client-node 64 MiB of it).
COPY --from=build /src/dist dist
COPY bin bin
LABEL org.opencontainers.image.title="kubevirt-vduse" \
      org.opencontainers.image.description="VDUSE / vhost-vDPA networking for KubeVirt virtual machines" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="kubevirt-vduse"
# Numeric, so that runAsNonRoot can verify it; files stay root-owned and read-only to it.
USER 1001

FROM runtime AS webhook
LABEL org.opencontainers.image.title="kubevirt-vduse-webhook"
EXPOSE 8443 8080
ENTRYPOINT ["/opt/kubevirt-vduse/bin/kubevirt-vduse-webhook"]

# The sidecar of the vduse-cloudinit binding: the same program, that knows its binding. KubeVirt 1.9
# sets NETWORK_BINDING_PLUGIN_NAME in binding sidecars (to the same name); 1.8 sets nothing, and a
# sidecar that took itself for vduse would convert no interface (deploy/kubevirt/README.md).
FROM runtime AS sidecar-cloudinit
LABEL org.opencontainers.image.title="kubevirt-vduse-sidecar-cloudinit"
ENV PATH=/opt/kubevirt-vduse/bin:$PATH
ENV NETWORK_BINDING_PLUGIN_NAME=vduse-cloudinit
ENTRYPOINT ["/opt/kubevirt-vduse/bin/kubevirt-vduse-sidecar"]

# Last, so that a build without --target gives the sidecar KubeVirt's CR names.
FROM runtime AS sidecar
LABEL org.opencontainers.image.title="kubevirt-vduse-sidecar"
# onDefineDomain and preCloudInitIso, for KubeVirt's generic sidecar-shim.
ENV PATH=/opt/kubevirt-vduse/bin:$PATH
ENTRYPOINT ["/opt/kubevirt-vduse/bin/kubevirt-vduse-sidecar"]
