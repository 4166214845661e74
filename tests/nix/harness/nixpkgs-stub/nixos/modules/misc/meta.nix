# Home Manager imports nixpkgs' nixos/modules/misc/meta.nix by path; this accepts every
# module's `meta` (maintainers, docs) without checking it.
{ lib, ... }:
{
  options.meta = lib.mkOption {
    type = lib.types.attrsOf lib.types.unspecified;
    default = { };
    internal = true;
    description = "Module metadata (not checked here).";
  };
}
