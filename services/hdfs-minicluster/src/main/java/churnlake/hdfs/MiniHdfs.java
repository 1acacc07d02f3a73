package churnlake.hdfs;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.server.datanode.DataNode;

import sun.misc.Signal;

/**
 * Runs a single-node HDFS (one NameNode with WebHDFS, one DataNode) bound to 127.0.0.1,
 * for churnlake tests and the demo. Started by churnlake/services/hdfs.py.
 *
 * <pre>
 * java -cp classes:lib/* churnlake.hdfs.MiniHdfs --base-dir DIR [--nn-port N] [--http-port N]
 *      [--ready-file FILE] [--format true|false] [--exit-on-stdin-eof] [--conf key=value]...
 * </pre>
 *
 * When the cluster is up it writes the ready file (JSON, written atomically) and prints one
 * line starting with "MINIHDFS READY". It stops on SIGTERM/SIGINT/SIGHUP, and also on end of
 * standard input (or a line "stop") when --exit-on-stdin-eof is given, so that it dies with
 * its parent.
 */
public final class MiniHdfs {

  private MiniHdfs() {}

  private static void usage(String message) {
    System.err.println("MiniHdfs: " + message);
    System.err.println("usage: MiniHdfs --base-dir DIR [--nn-port N] [--http-port N] [--ready-file FILE]"
        + " [--format true|false] [--exit-on-stdin-eof] [--conf key=value]...");
    System.exit(2);
  }

  public static void main(String[] args) throws Exception {
    String baseDir = null;
    String readyFile = null;
    int nnPort = 0;
    int httpPort = 0;
    Boolean format = null;
    boolean exitOnStdinEof = false;
    List<String[]> extra = new ArrayList<>();

    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("--exit-on-stdin-eof")) {
        exitOnStdinEof = true;
        continue;
      }
      if (i + 1 >= args.length) {
        usage("missing value for " + a);
      }
      String v = args[++i];
      switch (a) {
        case "--base-dir": baseDir = v; break;
        case "--ready-file": readyFile = v; break;
        case "--nn-port": nnPort = Integer.parseInt(v); break;
        case "--http-port": httpPort = Integer.parseInt(v); break;
        case "--format": format = Boolean.parseBoolean(v); break;
        case "--conf": {
          int eq = v.indexOf('=');
          if (eq <= 0) {
            usage("--conf needs key=value, got " + v);
          }
          extra.add(new String[] {v.substring(0, eq), v.substring(eq + 1)});
          break;
        }
        default: usage("unknown option " + a);
      }
    }
    if (baseDir == null) {
      usage("--base-dir is required");
    }

    File base = new File(baseDir).getAbsoluteFile();
    // MiniDFSCluster deletes its whole base directory when it formats, so it gets a
    // folder of its own; the ready file and the log stay outside of it.
    File clusterDir = new File(base, "cluster");
    if (format == null) {
      // Keep an existing file system (warm restart), format a new one.
      format = !isFormatted(clusterDir);
    }

    Configuration conf = new Configuration();
    conf.set("hadoop.tmp.dir", new File(base, "tmp").getPath());
    // Everything on loopback; DataNodes advertise 127.0.0.1 so WebHDFS redirects
    // (NameNode -> DataNode) and block transfers reach them from this machine.
    conf.set("dfs.datanode.hostname", "127.0.0.1");
    conf.set("dfs.datanode.address", "127.0.0.1:0");
    conf.set("dfs.datanode.http.address", "127.0.0.1:0");
    conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
    conf.setBoolean("dfs.client.use.datanode.hostname", true);
    conf.setBoolean("dfs.datanode.use.datanode.hostname", true);
    conf.setBoolean("dfs.namenode.datanode.registration.ip-hostname-check", false);
    // Test cluster: no permission checks, one replica, WebHDFS on, small server footprint.
    conf.setBoolean("dfs.permissions.enabled", false);
    conf.setBoolean("dfs.webhdfs.enabled", true);
    conf.setInt("dfs.replication", 1);
    conf.setInt("dfs.namenode.replication.min", 1);
    conf.setInt("dfs.namenode.safemode.extension", 0);
    conf.setInt("dfs.namenode.handler.count", 10);
    conf.setInt("dfs.datanode.handler.count", 5);
    conf.setLong("dfs.datanode.du.reserved", 0L);
    conf.set("hadoop.security.authentication", "simple");
    conf.setBoolean("dfs.namenode.acls.enabled", true);
    for (String[] kv : extra) {
      conf.set(kv[0], kv[1]);
    }

    // Stop on SIGTERM/SIGINT/SIGHUP (and on end of stdin if asked): shut the cluster down
    // from the main thread, before the JVM starts its own shutdown, then exit. A request
    // that comes during start-up is served once the cluster is up.
    CountDownLatch stopRequested = new CountDownLatch(1);
    for (String name : new String[] {"TERM", "INT", "HUP"}) {
      Signal.handle(new Signal(name), s -> stopRequested.countDown());
    }

    long t0 = System.nanoTime();
    MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf, clusterDir)
        .numDataNodes(1)
        .nameNodePort(nnPort)
        .nameNodeHttpPort(httpPort)
        .format(format)
        .manageNameDfsDirs(true)
        .manageDataDfsDirs(true)
        .checkDataNodeAddrConfig(true)
        .checkDataNodeHostConfig(true)
        .waitSafeMode(true)
        .build();
    cluster.waitActive();
    cluster.waitClusterUp();

    int rpc = cluster.getNameNodePort();
    int http = cluster.getNameNode().getHttpAddress().getPort();
    DataNode dn = cluster.getDataNodes().get(0);
    long pid = ProcessHandle.current().pid();
    double seconds = (System.nanoTime() - t0) / 1e9;
    String json = String.format(
        "{\"pid\": %d, \"host\": \"127.0.0.1\", \"namenode_port\": %d, \"http_port\": %d,"
            + " \"datanode_http_port\": %d, \"datanode_xfer_port\": %d, \"datanode_ipc_port\": %d,"
            + " \"formatted\": %s, \"startup_seconds\": %.2f, \"jvm\": \"%s\"}",
        pid, rpc, http, dn.getInfoPort(), dn.getXferPort(), dn.getIpcPort(), format, seconds,
        jsonEscape(ManagementFactory.getRuntimeMXBean().getVmVersion()));

    if (readyFile != null) {
      Path target = new File(readyFile).toPath();
      Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
      Files.write(tmp, (json + "\n").getBytes(StandardCharsets.UTF_8));
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
    System.out.println("MINIHDFS READY hdfs://127.0.0.1:" + rpc + " http://127.0.0.1:" + http + " " + json);
    System.out.flush();

    if (exitOnStdinEof) {
      Thread watcher = new Thread(() -> {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
          String line;
          while ((line = in.readLine()) != null) {
            if (line.trim().equals("stop")) {
              break;
            }
          }
        } catch (IOException ignored) {
          // treat like end of input
        }
        stopRequested.countDown();
      }, "minihdfs-stdin-watch");
      watcher.setDaemon(true);
      watcher.start();
    }
    stopRequested.await();
    System.out.println("MINIHDFS STOPPING");
    System.out.flush();
    int status = 0;
    try {
      cluster.shutdown();
    } catch (Throwable t) {
      t.printStackTrace();
      status = 1;
    }
    System.out.println("MINIHDFS STOPPED");
    System.out.flush();
    System.err.flush();
    // halt, not exit: MiniDFSCluster.shutdown() registers its directory for
    // delete-on-exit, and the file system is meant to survive a restart.
    Runtime.getRuntime().halt(status);
  }

  /** True if the NameNode storage (cluster/name-0-1 or cluster/name1) holds a formatted image. */
  private static boolean isFormatted(File clusterDir) {
    File[] names = clusterDir.listFiles((dir, n) -> n.startsWith("name"));
    if (names == null) {
      return false;
    }
    for (File n : names) {
      if (new File(n, "current/VERSION").isFile()) {
        return true;
      }
    }
    return false;
  }

  private static String jsonEscape(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"");
  }
}
