// `heyvm login` / `heyvm logout`: storing the cloud token after checking it against the cloud.
import { normalizeCloudUrl, resolveCloudUrl, saveAuthUrl, saveCloudUrl, saveToken, forgetToken } from "../cloud/credentials.js";
import { CloudClient } from "../cloud/client.js";
import { AuthError, UserError } from "../shared/errors.js";
import type { HeyoHome } from "../state/home.js";

export interface LoginRequest {
  token: string;
  /** --cloud-url: remembered in the config. */
  cloudUrl?: string;
  /** Check the token against the cloud before storing it (when an address is known). */
  verify: boolean;
  /** --auth-url: stored for compatibility (credentials.ts saveAuthUrl). */
  authUrl?: string;
}

export interface LoginResult {
  /** The cloud accepted the token (false: no address known yet, stored unchecked). */
  verified: boolean;
  tokenFile: string;
}

export async function login(home: HeyoHome, request: LoginRequest): Promise<LoginResult> {
  const { token } = request;
  if (!token || /\s/.test(token)) throw new UserError("no API token given", { hint: "pass --api-key <token>, set HEYO_API_KEY, or type it at the prompt" });
  const cloudUrl = request.cloudUrl ? normalizeCloudUrl(request.cloudUrl) : undefined;
  const authUrl = request.authUrl !== undefined ? normalizeCloudUrl(request.authUrl) : undefined;
  let verified = false;
  if (request.verify) {
    let url: string | undefined;
    try {
      url = cloudUrl ?? resolveCloudUrl(home, undefined);
    } catch {
      url = undefined; // no address yet: store the token unverified
    }
    if (url) {
      try {
        await new CloudClient({ baseUrl: url, token }).listDeployments();
      } catch (error) {
        if (error instanceof AuthError) throw new AuthError(`the cloud at ${url} does not accept this token`, "check the token (an operator makes one with `heyvm server token create`)");
        throw error;
      }
      verified = true;
    }
  }
  saveToken(home, token);
  if (cloudUrl) saveCloudUrl(home, cloudUrl);
  if (authUrl) saveAuthUrl(home, authUrl);
  return { verified, tokenFile: home.tokenFile };
}

/** Forgets the stored token; false when there was none. */
export function logout(home: HeyoHome): boolean {
  return forgetToken(home);
}
