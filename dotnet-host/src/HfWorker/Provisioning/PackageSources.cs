using System.Collections.Generic;

namespace HfWorker.Provisioning
{
    /// <summary>Where packages come from: the main index, extra indexes, find-links. The same flags for uv and pip.</summary>
    internal sealed class PackageSources
    {
        private readonly string _indexUrl;
        private readonly List<string> _extraIndexUrls;
        private readonly List<string> _findLinks;

        public PackageSources(string indexUrl, IEnumerable<string> extraIndexUrls, IEnumerable<string> findLinks)
        {
            _indexUrl = indexUrl;
            _extraIndexUrls = new List<string>(extraIndexUrls);
            _findLinks = new List<string>(findLinks);
        }

        public List<string> Arguments()
        {
            var args = new List<string>();
            if (!string.IsNullOrEmpty(_indexUrl))
            {
                args.Add("--index-url");
                args.Add(_indexUrl);
            }
            foreach (var url in _extraIndexUrls)
            {
                args.Add("--extra-index-url");
                args.Add(url);
            }
            foreach (var link in _findLinks)
            {
                args.Add("--find-links");
                args.Add(link);
            }
            return args;
        }
    }
}
