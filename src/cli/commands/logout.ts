// `heyvm logout`: forget the stored cloud API token.
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print } from "../io.js";

export const logoutCommand = defineCommand({
  name: "logout",
  description: "forget the stored cloud API token",
  async run({ io }) {
    const { logout } = await import("../../core/login.js");
    const home = heyoHome();
    print(io, logout(home) ? `logged out (removed ${home.tokenFile})` : "not logged in");
  },
});
