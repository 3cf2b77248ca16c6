using System;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Models;

namespace HfWorker.Demo
{
    /// <summary>A pool on the default embedding model, a small corpus kept in the workers, and a few queries.</summary>
    internal static class SemanticSearchDemo
    {
        private static readonly string[] Corpus =
        {
            "A cat sleeps on the warm windowsill.",
            "Kittens spend most of the day napping.",
            "The central bank raised interest rates again.",
            "Stock markets fell sharply after the announcement.",
            "Heavy rain is expected across the region tomorrow.",
            "The forecast promises sunshine for the weekend.",
            "The striker scored twice in the second half.",
            "The team won the championship after extra time.",
            "Fresh basil makes a simple tomato sauce shine.",
            "Knead the dough until it is smooth and elastic.",
            "The new phone has a faster chip and a better camera.",
            "Engineers shipped a patch for the security flaw.",
        };

        private static readonly string[] Queries =
        {
            "a sleepy kitten",
            "will it rain?",
            "football match result",
            "how to bake bread",
        };

        public static async Task<int> RunAsync(Arguments arguments)
        {
            var options = new WorkerPoolOptions { Worker = arguments.Worker(), WorkerCount = arguments.Int("workers", 2) };
            Console.WriteLine("starting " + options.WorkerCount + " workers...");
            using (var pool = await WorkerPool.StartAsync(options))
            {
                var hf = new HfModels(pool);
                var stages = new Progress<string>(stage => Console.WriteLine("  loading (each worker): " + stage));
                var model = await hf.LoadAsync("sentence-transformers/all-MiniLM-L6-v2", null, stages);
                Console.WriteLine("loaded " + model + " from " + model.Info.Source + ": " + model.Info.Parameters.ToString("N0")
                    + " parameters, " + (model.Info.MemoryBytes / 1048576.0).ToString("0.0") + " MiB, on every worker");

                // The corpus is embedded once and stays in a worker; each search sends only the query.
                var corpus = await hf.EmbedAndKeepAsync(model, Corpus);
                Console.WriteLine("corpus kept in the worker as " + corpus);
                foreach (var query in Queries)
                {
                    var hits = await hf.SearchAsync(corpus, query, model, topK: 2);
                    Console.WriteLine();
                    Console.WriteLine("\"" + query + "\"");
                    foreach (var hit in hits) Console.WriteLine("  " + hit.Score.ToString("0.000") + "  " + Corpus[hit.Index]);
                }
                await hf.FreeTensorsAsync(new[] { corpus });
                Console.WriteLine();
                Console.WriteLine("pool: " + pool.Statistics);
            }
            return 0;
        }
    }
}
