"""feedsvc: a lasting archive of news articles, published as feeds.

The package is laid out by stage (see README "Layout"): ``config`` → ``fetch`` →
``sources``/``extract`` → ``refresh`` → ``store`` → ``feeds``/``render`` → ``web``;
``scheduler`` and ``cli`` drive it.
"""

__version__ = "0.1.0"
