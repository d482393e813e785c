# Container images of the two services, built from the one `marketprism` package:
# `image-collector` and `image-storage`. Each runs `marketprism <command> --config
# /etc/marketprism/<service>.toml` as an unprivileged user; mount the configuration there,
# with `listen = "0.0.0.0:<port>"` so the exposed /health, /ready and /metrics port answers
# from outside the container.
#
#   nix build .#image-collector && docker load < result
#   docker run -v ./collector.toml:/etc/marketprism/collector.toml:ro -p 9101:9101 \
#     marketprism-collector:0.1.0
{ pkgs, marketprism }:
let
  inherit (pkgs) lib dockerTools;

  # The distroless "nonroot" ids, numeric in the image configuration so that runtimes
  # enforcing a non-root user (Kubernetes `runAsNonRoot`) can check them.
  uid = 65532;
  gid = 65532;

  # /etc/passwd and /etc/group with root, nobody and the service user.
  users = dockerTools.fakeNss.override {
    extraPasswdLines = [
      "marketprism:x:${toString uid}:${toString gid}:MarketPrism:/var/empty:/sbin/nologin"
    ];
    extraGroupLines = [ "marketprism:x:${toString gid}:" ];
  };

  image =
    {
      service,
      command,
      description,
      # The default `listen` port of the service's configuration.
      port,
    }:
    dockerTools.buildLayeredImage {
      name = "marketprism-${service}";
      tag = marketprism.version;
      contents = [ users ];
      config = {
        User = "${toString uid}:${toString gid}";
        Entrypoint = [ (lib.getExe marketprism) ];
        Cmd = [
          command
          "--config"
          "/etc/marketprism/${service}.toml"
        ];
        ExposedPorts."${toString port}/tcp" = { };
        Labels = {
          "org.opencontainers.image.title" = "marketprism-${service}";
          "org.opencontainers.image.description" = description;
          "org.opencontainers.image.version" = marketprism.version;
          "org.opencontainers.image.licenses" = marketprism.meta.license.spdxId;
          "org.opencontainers.image.source" = marketprism.meta.homepage;
        };
      };
    };
in
{
  image-collector = image {
    service = "collector";
    command = "collect";
    description = "MarketPrism collector: exchanges → NATS JetStream";
    port = 9101;
  };

  image-storage = image {
    service = "storage";
    command = "store";
    description = "MarketPrism storage: NATS JetStream → ClickHouse";
    port = 9102;
  };
}
