using System;
using System.Threading.Tasks;
using HfWorker;
using HfWorker.Exceptions;

public static class Program
{
    public static int Main(string[] args)
    {
        // The folder of a virtual environment with the worker installed (setup.sh makes .venv).
        string venv = args.Length > 0 ? args[0] : ".venv";
        return RunAsync(venv).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(string venv)
    {
        // Two supervised worker processes: a hung one is killed, a dead one replaced (with its models).
        var options = new WorkerPoolOptions
        {
            Worker = new WorkerProcessOptions { VirtualEnvironment = venv },
            WorkerCount = 2,
        };
        using (var pool = await WorkerPool.StartAsync(options))
        {
            var hf = new HfModels(pool);
            var model = await hf.LoadAsync("sentence-transformers/all-MiniLM-L6-v2");

            float[] vector = await hf.EmbedAsync(model, "A cat sleeps on the sofa.");
            Console.WriteLine("one sentence: " + vector.Length + " floats");

            // Embed the corpus once and keep it in the worker: a search sends only the query.
            var sentences = new[] { "It will rain tomorrow.", "Kittens love long naps.", "Stocks fell sharply." };
            var corpus = await hf.EmbedAndKeepAsync(model, sentences);
            foreach (var hit in await hf.SearchAsync(corpus, "a sleepy cat", model, topK: 2))
            {
                Console.WriteLine(hit.Score.ToString("0.00") + "  " + sentences[hit.Index]);
            }

            // Any method is reachable raw; errors say what went wrong and the worker keeps serving.
            try
            {
                await pool.InvokeAsync("model/run", new System.Collections.Generic.Dictionary<string, object>
                {
                    { "handle", "no-such-model" }, { "inputs", "hello" },
                });
            }
            catch (WorkerRpcException e)
            {
                Console.WriteLine(e.ErrorCode + ": " + e.RemoteMessage);
            }
            Console.WriteLine(pool.Statistics);
        }
        return 0;
    }
}
