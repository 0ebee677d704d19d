# augur and its mock upstream in one image. Build stage: Debian bookworm with the -dev packages
# scripts/install-deps.sh --build installs; runtime stage: bookworm-slim with the shared libraries
# only, running as an unprivileged user.
#   docker build -t augur .
#   docker run --rm -p 8080:8080 -p 9464:9464 augur serve --config /etc/augur/augur.yaml

FROM debian:bookworm AS build
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN /tmp/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DAUGUR_BUILD_TESTS=OFF -DAUGUR_BUILD_BENCHMARKS=OFF \
 && cmake --build /build --target augur augur-mock-upstream \
 && strip /build/app/augur /build/loadtest/mock/augur-mock-upstream

FROM debian:bookworm-slim AS runtime
# The runtime halves of the -dev packages above (what `ldd augur` resolves to on bookworm).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 libsimdjson14 \
      libhiredis0.14 libjemalloc2 libyaml-cpp0.7 libspdlog1.10 libfmt9 libprometheus-cpp-core1.0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/augur --create-home augur
COPY --from=build /build/app/augur /build/loadtest/mock/augur-mock-upstream /usr/local/bin/
# GET over bash's /dev/tcp (no curl here) for the HEALTHCHECK below; /healthz needs no admin token.
COPY deploy/augur-probe /usr/local/bin/augur-probe
COPY config/augur.yaml /etc/augur/augur.yaml
USER augur
WORKDIR /var/lib/augur
EXPOSE 8080 9464
# /healthz on the admin port of the default command below; a config with another admin.listen
# needs its own check (docker run --health-cmd 'augur-probe /healthz HOST:PORT').
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["augur-probe", "/healthz", "127.0.0.1:9464"]
ENTRYPOINT ["augur"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--admin-listen", "0.0.0.0:9464"]
