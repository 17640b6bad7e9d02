// The cloud client of a command that talks to the cloud (archive, list-archives, update): the
// stored token and the cloud address ($HEYO_CLOUD_URL, --cloud-url or the config), read once here.
import type { CloudClient } from "../cloud/client.js";
import type { HeyoHome } from "../state/home.js";

export async function cloudClientFor(home: HeyoHome): Promise<CloudClient> {
  const { resolveCloudUrl, resolveToken } = await import("../cloud/credentials.js");
  const { CloudClient } = await import("../cloud/client.js");
  return new CloudClient({ baseUrl: resolveCloudUrl(home, undefined), token: resolveToken(home) });
}
