// Whether a Docker engine answers on this host (DOCKER_HOST or the default socket): image
// publishing needs one, and saying so beats failing halfway through a build.
import { createConnection } from "node:net";

export function dockerEndpoint(env: NodeJS.ProcessEnv = process.env): { path: string } | { host: string; port: number } {
  const host = env.DOCKER_HOST;
  if (host?.startsWith("unix://")) return { path: host.slice("unix://".length) };
  if (host?.startsWith("tcp://")) {
    const url = new URL(host.replace(/^tcp:/, "http:"));
    return { host: url.hostname, port: Number(url.port || 2375) };
  }
  return { path: "/var/run/docker.sock" };
}

/** True when the engine answers its /_ping within timeoutMs. */
export function dockerReachable(timeoutMs = 1500, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(dockerEndpoint(env));
    let answer = "";
    const done = (value: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write("GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"));
    socket.on("data", (chunk: string) => {
      answer += chunk;
      if (answer.includes("\r\n")) done(/^HTTP\/1\.[01] 200/.test(answer));
    });
    socket.on("error", () => done(false));
    socket.on("close", () => done(answer.startsWith("HTTP/1.1 200") || answer.startsWith("HTTP/1.0 200")));
  });
}
