# Home Manager's services-modular imports nixpkgs' lib/services/lib.nix by path. The
# nixpkgs.lib checkout has that file next to lib/default.nix, which is where `lib.mkOption`
# is defined: use it from there.
{ lib }:
import (dirOf (builtins.unsafeGetAttrPos "mkOption" lib).file + "/services/lib.nix") {
  inherit lib;
}
