# Stand-in declarations of the NixOS options our module writes, with NixOS-like types.
# Anything the module writes that is not declared here fails evaluation loudly.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  unitValue = types.oneOf [
    types.bool
    types.int
    types.str
    types.path
    (types.listOf types.str)
  ];
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    users.users = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule {
          options = {
            isSystemUser = mkOption {
              type = types.bool;
              default = false;
            };
            group = mkOption { type = types.str; };
            home = mkOption {
              type = types.str;
              default = "/var/empty";
            };
            description = mkOption {
              type = types.str;
              default = "";
            };
          };
        }
      );
    };
    users.groups = mkOption {
      default = { };
      type = types.attrsOf (types.submodule { });
    };
    # Written by templates/nixos/hardware-configuration.nix.
    boot.loader.grub.device = mkOption {
      type = types.str;
      default = "";
    };
    fileSystems = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule {
          options.device = mkOption { type = types.str; };
          options.fsType = mkOption { type = types.str; };
        }
      );
    };
    system.stateVersion = mkOption {
      type = types.str;
      default = "";
    };
    environment.systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };
    networking.firewall.allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
    };
    systemd.tmpfiles.rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    systemd.services = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule {
          options = {
            description = mkOption {
              type = types.str;
              default = "";
            };
            wantedBy = mkOption {
              type = types.listOf types.str;
              default = [ ];
            };
            after = mkOption {
              type = types.listOf types.str;
              default = [ ];
            };
            wants = mkOption {
              type = types.listOf types.str;
              default = [ ];
            };
            path = mkOption {
              type = types.listOf types.package;
              default = [ ];
            };
            environment = mkOption {
              type = types.attrsOf types.str;
              default = { };
            };
            restartTriggers = mkOption {
              type = types.listOf types.unspecified;
              default = [ ];
            };
            serviceConfig = mkOption {
              type = types.attrsOf unitValue;
              default = { };
            };
          };
        }
      );
    };
  };
}
